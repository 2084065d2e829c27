#!/usr/bin/env bash
# enrich_badinput.sh - crm-enrich against hostile payloads, through a real
# Kafka broker into PostgreSQL 15.
#
# enrich_bad_gen.py writes 22 records with valid envelopes and bad
# payloads: malformed MIME (no boundary, unterminated multipart, broken
# quoted-printable and base64, header garbage with NUL and raw 8-bit,
# message/rfc822 nested 2,000 deep, something that is not mail at all),
# wrong charsets (Latin-1 text, invalid UTF-8, unknown charsets, broken
# RFC 2047 and ISO-2022-JP, UTF-16 HTML), a message of 10,000 parts, a
# 50 MB text body, a 50 MB attachment, and broken iCalendar (an
# unterminated VEVENT, impossible dates and an unknown TZID, an RRULE of
# a billion occurrences, 5,000 attendees, a vCard, binary noise).
#
# Each record must end as what expect.tsv says ("stored": a row; "dead":
# on crm.deadletter.v1 with an error header; "either": one of those or
# logged as ignored), the daemon must survive all of them (same PID),
# take a valid record produced afterwards, and stop cleanly on SIGTERM.
# The outcome, reason and time of every record are printed, with the
# daemon's peak RSS.
. "$(dirname "$0")/../lib/common.sh"
scenario_init enrich_badinput 0
. "$TLIB/enrich.sh"
enrich_stack

step "generate and produce the hostile records"
"$PY" "$ROOT/tests/integration/enrich_bad_gen.py" "$T/bad" >"$T/gen.out" ||
	fail "enrich_bad_gen.py"
n="$(wc -l <"$T/bad/manifest.tsv")"
t0=$(now_ms)
while IFS= read -r line; do
	IFS=$'\t' read -r -a f <<<"$line"
	args=()
	for h in "${f[@]:3}"; do args+=(-H "$h"); done
	kcat -P -b "$KAFKA_BOOTSTRAP" -t "${f[0]}" -k "${f[1]}" \
	    -X enable.idempotence=true -X message.max.bytes=70000000 \
	    "${args[@]}" "${f[2]}" || fail "kcat produce ${f[2]}"
done <"$T/bad/manifest.tsv"
note "$n records ($(du -sh "$T/bad" | cut -f1)) produced in $(($(now_ms) - t0)) ms"

# Where each record landed (topic[partition]@offset), read back by kcat.
for topic in crm.mail.v1 crm.calendar.v1; do
	kcat -C -b "$KAFKA_BOOTSTRAP" -t "$topic" -o beginning -e -q \
	    -f '%t[%p]@%o %h\n' -X fetch.message.max.bytes=70000000 \
	    -X receive.message.max.bytes=140000000 2>/dev/null
done | sed -n 's/^\([^ ]*\) .*test-id=\([^,]*\).*/\2 \1/p' |
    sort >"$T/where.txt"
[ "$(wc -l <"$T/where.txt")" = "$n" ] || { cat "$T/where.txt"; fail "kcat read back $(wc -l <"$T/where.txt") of $n records"; }

step "crm-enrich takes them all"
enrich_start a
pid="$ENRICH_PID_a"
outcome() { # TEST-ID -> done|duplicate|ignored|dead|-
	local pos
	pos="$(awk -v id="$1" '$1 == id { print $2 }' "$T/where.txt")"
	pos="$(printf '%s' "$pos" | sed 's/[][]/\\&/g')"
	if grep -q "dead-letter $pos tenant=" "$T/enrich-a.log"; then
		echo dead
	else
		grep -o "record $pos tenant=[^ ]* [a-z]*" "$T/enrich-a.log" |
		    awk '{ print $4 }' | tail -n 1 | grep . || echo -
	fi
}
settled=0
for _ in $(seq 1 180); do
	settled=0
	while read -r id _; do
		[ "$(outcome "$id")" != - ] && settled=$((settled + 1))
	done <"$T/where.txt"
	[ "$settled" = "$n" ] && break
	kill -0 "$pid" 2>/dev/null || fail "crm-enrich died (see $T/enrich-a.log)"
	sleep 1
done
[ "$settled" = "$n" ] || fail "only $settled of $n records settled in 180 s"
note "all $n settled in $(($(now_ms) - t0)) ms from the first produce"
kill -0 "$pid" 2>/dev/null || fail "crm-enrich died"
hwm="$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")"

step "every record where it belongs"
kcat -C -b "$KAFKA_BOOTSTRAP" -t crm.deadletter.v1 -o beginning -e -q \
    -f '%h\n' -X fetch.message.max.bytes=70000000 \
    -X receive.message.max.bytes=140000000 >"$T/dlq.txt" 2>/dev/null
sql "SELECT kafka_headers->>'test-id' FROM messages UNION ALL
     SELECT kafka_headers->>'test-id' FROM meetings" | sort >"$T/rows.txt"
bad=0
printf '  %-28s %-8s %-9s %s\n' test-id expected outcome detail
while IFS=$'\t' read -r id want; do
	got="$(outcome "$id")"
	detail=""
	case "$got" in
	done|duplicate)
		grep -qx "$id" "$T/rows.txt" || { detail="NO ROW"; bad=1; }
		case "$id" in *.ics|*-ics-*) ;; *)
			detail="$detail$(sql "SELECT 'body ' ||
			    COALESCE(length(body_text), 0) ||
			    ' chars, ' || (SELECT count(*) FROM attachments a
			    WHERE a.message_id = m.id) || ' attachments'
			    FROM messages m WHERE kafka_headers->>'test-id' =
			    '$id'")";;
		esac
		[ "$want" = dead ] && { detail="$detail (should be dead)"; bad=1; }
		got=stored;;
	dead)
		reason="$(grep "test-id=$id" "$T/dlq.txt" | grep -o 'error=[^,]*' | head -n 1)"
		[ -n "$reason" ] || { reason="NO DEAD LETTER"; bad=1; }
		detail="$reason"
		[ "$want" = stored ] && { detail="$detail (should be stored)"; bad=1; }
		grep -qx "$id" "$T/rows.txt" && { detail="$detail, yet a row"; bad=1; };;
	ignored)
		[ "$want" = either ] || { detail="(should be $want)"; bad=1; }
		grep -qx "$id" "$T/rows.txt" && { detail="$detail, yet a row"; bad=1; };;
	*)
		detail="never settled"; bad=1;;
	esac
	printf '  %-28s %-8s %-9s %s\n' "$id" "$want" "$got" "$detail"
done <"$T/bad/expect.tsv"
[ "$bad" = 0 ] || fail "a record did not end where it belongs"
# The capped message keeps the first parts as attachments, not 10,000.
[ "$(sql "SELECT count(*) FROM attachments a JOIN messages m ON
    m.id = a.message_id WHERE m.kafka_headers->>'test-id' = '14-parts-10000'")" -le 500 ] ||
	fail "10,000-part message: attachment list not capped"
note "crm-enrich peak RSS ${hwm} kB after the $n records"
if [ -z "${CRM_SANITIZED:-}" ] && [ "$hwm" -gt 1048576 ]; then
	fail "crm-enrich peak RSS ${hwm} kB (bound 1 GiB)"
fi

step "a valid record afterwards is stored: the consumer moved on"
"$PY" "$GEN" "$T/gen" --count 1 --start 900 --seed 9 --calendar 0 >/dev/null
produce_manifest "$T/gen/manifest.tsv"
wait_sql "SELECT count(*) FROM messages WHERE message_id LIKE 'm900.9@%'" 1 60
kill -0 "$pid" 2>/dev/null || fail "crm-enrich died"

step "SIGTERM: a clean stop"
stop_pid "$pid" 20 || fail "crm-enrich did not stop on SIGTERM"
wait "$pid"; rc=$?
[ "$rc" = 0 ] || fail "crm-enrich exited $rc on SIGTERM"
if grep -E 'AddressSanitizer|runtime error:|LeakSanitizer' "$T/enrich-a.log"; then
	fail "sanitizer report in crm-enrich's log"
fi

pass "$n hostile records: each stored or dead-lettered with a reason, daemon alive (peak ${hwm} kB), later record stored"
