#!/usr/bin/env bash
# capture_kafka.sh - the spool reaches the real Kafka broker whole.
#
# A test writer spools 500 mail records (one of them 30 MiB) the way the
# proxy does; crm-capture ships them; kcat, an independent client, must
# read exactly 500 records with byte-identical values, the right key and
# headers.  Prints spool append MB/s, commit->Kafka latency, records/s.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$ROOT/tests/lib/capture.sh"
kafka_require

kafka_start "$T/kafka"
kafka_create_topic crm.mail.v1
capture_conf "$T/spool"
capture_start
RUN="k$$"
GEN=(--run "$RUN" --count 500 --min 2000 --max 60000 --seed 7
	--big-index 250 --big-size 31457280)

# The consumer runs from before the first record so latency is real.
verify_topic "${GEN[@]}" --timeout 240 >"$T/verify.out" 2>&1 &
VERIFY=$!
sleep 3
"$SPOOL_TOOL" write "$T/spool" --writer w1 "${GEN[@]}" --rate 100 \
    | tee "$T/write.out"
wait "$VERIFY" || { cat "$T/verify.out"; tail -20 "$T/capture.log";
	fail "verification"; }
cat "$T/verify.out"

n="$(kafka_count crm.mail.v1)"
[ "$n" = 500 ] || fail "topic holds $n records, expected exactly 500"
echo "topic crm.mail.v1: exactly 500 records"

wait_metric records_acked_total 500 30
wait_metric spool_segments 0 30    # sealed, shipped, deleted
wait_metric spool_bytes 0 5
[ "$(metric records_corrupt_total)" = 0 ] || fail "corrupt records"
capture_stop
grep -q 'stopped' "$T/capture.log" || fail "no clean stop in the log"

# Shipping rate: a 5000-record backlog spooled while crm-capture is down.
"$SPOOL_TOOL" write "$T/spool" --writer w2 --run "$RUN" --start 1000 \
    --count 5000 --min 2000 --max 30000 --seed 9 >/dev/null
rm -f "$T/metrics.prom"
t0=$(date +%s%N)
capture_start
wait_metric records_acked_total 5000 120
t1=$(date +%s%N)
echo "backlog: 5000 records shipped and acknowledged in" \
    "$(( (t1 - t0) / 1000000 )) ms = $(( 5000 * 1000000000 / (t1 - t0) ))" \
    "records/s (includes crm-capture start-up)"
capture_stop

# Append throughput without a rate limit (a spool nobody ships).
"$SPOOL_TOOL" write "$T/spool-bench" --writer bench --run b --count 2000 \
    --min 2000 --max 200000 --seed 3
echo "PASS"
