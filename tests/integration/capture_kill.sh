#!/usr/bin/env bash
# capture_kill.sh - kill -9 of crm-capture at random moments loses nothing.
#
# Two writers spool 3000 records (a 20 MiB one among them) while
# crm-capture is killed with SIGKILL 10 times at random points and
# restarted each time.  Afterwards every record is on Kafka, every value is
# byte-identical (nothing corrupt was published), and duplicates - the
# price of at-least-once - carry the same idempotency key.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$ROOT/tests/lib/capture.sh"
kafka_require
KILLS="${KILLS:-10}"

kafka_start "$T/kafka"
kafka_create_topic crm.mail.v1
capture_conf "$T/spool"
capture_start
RUN="x$$"
COMMON=(--run "$RUN" --min 1000 --max 40000 --seed 5
	--big-index 1700 --big-size 20971520)

"$SPOOL_TOOL" write "$T/spool" --writer a "${COMMON[@]}" --start 0 \
    --count 1500 --rate 150 >"$T/write-a.out" &
WA=$!
"$SPOOL_TOOL" write "$T/spool" --writer b "${COMMON[@]}" --start 1500 \
    --count 1500 --rate 150 >"$T/write-b.out" &
WB=$!
for k in $(seq 1 "$KILLS"); do
	sleep "0.$((RANDOM % 9 + 1))"
	kill -KILL "$CAPTURE_PID"
	wait "$CAPTURE_PID" 2>/dev/null || true
	echo "kill $k: last metrics file said acked=$(metric records_acked_total)"
	capture_start
done
wait "$WA" "$WB" || fail "a writer failed"
cat "$T/write-a.out" "$T/write-b.out"

verify_topic "${COMMON[@]}" --count 3000 --timeout 240 | tee "$T/verify.out"
wait_metric spool_segments 0 60
capture_stop
n="$(kafka_count crm.mail.v1)"
echo "topic holds $n records for 3000 distinct after $KILLS kill -9s"
grep -c 'resuming' "$T/capture.log" >/dev/null ||
	fail "crm-capture never resumed from saved offsets"
echo "PASS"
