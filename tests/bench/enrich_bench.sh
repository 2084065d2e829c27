#!/usr/bin/env bash
# enrich_bench.sh - crm-enrich throughput on a backlog, real Kafka and
# PostgreSQL 15 (fsync off: the database's durability is not what is
# measured).  ENRICH_BENCH_COUNT generated messages (default 3000; about
# 15% more records: copies seen in a second mailbox) are produced first;
# then one instance starts and the clock runs until the last row is
# there.  Reported: records/s and messages/s for the first pass, then
# records/s for a full replay (all duplicates) under a new group.
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"
scenario_init enrich_bench 4
. "$TLIB/enrich.sh"
PRODUCE="$B/tests/tools/manifest-produce"
[ -x "$PRODUCE" ] || fail "build first: make $PRODUCE"
COUNT="${ENRICH_BENCH_COUNT:-3000}"
OUT="${BENCH_OUT:-$B/bench}/enrich.txt"
mkdir -p "$(dirname "$OUT")"
enrich_stack

"$PY" "$GEN" "$T/gen" --count "$COUNT" --seed 5 --calendar 50 >/dev/null
records="$(wc -l <"$T/gen/manifest.tsv")"
"$PRODUCE" "$KAFKA_BOOTSTRAP" "$T/gen/manifest.tsv" >/dev/null ||
	fail "producing the backlog"
want="$("$PY" -c "import json,sys; e=json.load(open(sys.argv[1])); print(sum(e[t]['messages'] for t in e))" "$T/gen/expected.json")"

t0=$(now_ms)
ENRICH_LOG_LEVEL=info enrich_start a
wait_sql "SELECT count(*) FROM messages" "$want" 600
wait_sql "SELECT count(*) FROM meetings" 50 60
t1=$(now_ms)
check_expected "$T/gen/expected.json" >/dev/null
stop_pid "$ENRICH_PID_a" 20
first_ms=$((t1 - t0))

t0=$(now_ms)
enrich_start r replay
for i in $(seq 1 3000); do
	n="$(grep -c -E 'debug: record ' "$T/enrich-r.log")"
	[ "$n" -ge "$records" ] && break
	sleep 0.2
done
t1=$(now_ms)
replay_ms=$((t1 - t0))
stop_pid "$ENRICH_PID_r" 20

{
	echo "crm-enrich, one instance, backlog of $records records ($want messages, 50 meetings), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
	printf '  first pass : %6d ms  %6d records/s  %6d messages/s (includes joining the group)\n' \
	    "$first_ms" $((records * 1000 / first_ms)) $((want * 1000 / first_ms))
	printf '  replay     : %6d ms  %6d records/s (every record a duplicate; debug logging on)\n' \
	    "$replay_ms" $((records * 1000 / replay_ms))
} | tee "$OUT"
pass "enrich bench"
