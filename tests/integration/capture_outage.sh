#!/usr/bin/env bash
# capture_outage.sh - Kafka goes away while mail keeps being spooled.
#
# Records are spooled before, during and after a broker outage (SIGTERM,
# then kill -9 for the second half, each followed by a restart).  The
# writers never wait; afterwards every record is on Kafka, and any
# duplicate carries the same idempotency key (spool-tool checks the key of
# every copy).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$ROOT/tests/lib/capture.sh"
kafka_require

kafka_start "$T/kafka"
kafka_create_topic crm.mail.v1
capture_conf "$T/spool"
capture_start
RUN="o$$"
COMMON=(--run "$RUN" --min 1000 --max 30000 --seed 11)

"$SPOOL_TOOL" write "$T/spool" --writer a "${COMMON[@]}" --start 0 \
    --count 200 --rate 400
wait_metric records_acked_total 200 60

echo "== broker stopped (SIGTERM); spooling continues"
kafka_stop "$T/kafka"
"$SPOOL_TOOL" write "$T/spool" --writer a "${COMMON[@]}" --start 200 \
    --count 300 --rate 400
sleep 2
kill -0 "$CAPTURE_PID" || fail "crm-capture died during the outage"
acked="$(metric records_acked_total)"
[ "$acked" -le 200 ] || fail "acked $acked with the broker down"
[ "$(metric spool_bytes)" -gt 0 ] || fail "spool empty during the outage"
echo "during outage: acked $acked, spool $(metric spool_bytes) bytes," \
    "in flight $(metric in_flight_records)"

echo "== broker back"
kafka_start "$T/kafka"
"$SPOOL_TOOL" write "$T/spool" --writer b "${COMMON[@]}" --start 500 \
    --count 100 --rate 400

echo "== broker killed (-9) mid-stream, then back"
"$SPOOL_TOOL" write "$T/spool" --writer b "${COMMON[@]}" --start 600 \
    --count 200 --rate 200 &
W=$!
sleep 0.5
kafka_kill "$T/kafka"
wait "$W"
sleep 1
kafka_start "$T/kafka"

verify_topic "${COMMON[@]}" --count 800 --timeout 180 | tee "$T/verify.out"
wait_metric spool_segments 0 60
[ "$(metric records_dropped_total)" = 0 ] || fail "records dropped"
capture_stop
echo "PASS"
