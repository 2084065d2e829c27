#!/usr/bin/env bash
# enrich_crash.sh - crm-enrich killed and rebalanced mid-stream.
#
# 500 generated messages (about 580 records) are produced with kcat while
# crm-enrich runs: instance A is killed with SIGKILL after ~100 messages
# and restarted; a second instance B joins the same group after ~250
# (rebalance); A is stopped with SIGTERM after ~400 (B takes over every
# partition).  Afterwards the database must hold exactly what the corpus
# implies - no message, participant, attachment or thread increment
# missing or doubled - so every record took effect exactly once, although
# some were processed more than once.
. "$(dirname "$0")/../lib/common.sh"
scenario_init enrich_crash 2
. "$TLIB/enrich.sh"
enrich_stack

"$PY" "$GEN" "$T/gen" --count 500 --seed 11 --calendar 10 >"$T/gen.out"
records="$(wc -l <"$T/gen/manifest.tsv")"
want="$("$PY" -c "import json,sys; e=json.load(open(sys.argv[1])); print(sum(e[t]['messages'] for t in e))" "$T/gen/expected.json")"
note "$records records, $want messages"

step "stream, kill -9 A after ~100 messages"
produce_manifest "$T/gen/manifest.tsv" >"$T/produce.log" 2>&1 &
PRODUCER=$!
track_pid "$PRODUCER" producer
enrich_start a
wait_sql_ge "SELECT count(*) FROM messages" 100 120
kill -KILL "$ENRICH_PID_a"
wait "$ENRICH_PID_a" 2>/dev/null
at_kill="$(sql "SELECT count(*) FROM messages")"
note "killed A at $at_kill messages"

step "restart A, start B mid-stream"
enrich_start a2
wait_sql_ge "SELECT count(*) FROM messages" 250 120
enrich_start b
wait_sql_ge "SELECT count(*) FROM messages" 400 120
# B must actually own partitions before A leaves
for i in $(seq 1 150); do
	grep -q 'partitions assigned: .*\[' "$T/enrich-b.log" && break
	sleep 0.2
done
grep -q 'partitions assigned' "$T/enrich-b.log" || fail "B never got partitions"

step "SIGTERM A while B runs"
stop_pid "$ENRICH_PID_a2" 30 || fail "A did not stop on SIGTERM"
wait "$ENRICH_PID_a2"; rc=$?
[ "$rc" = 0 ] || fail "A exited $rc"
grep -q 'partitions revoked' "$T/enrich-a2.log" || fail "A never revoked partitions"
wait "$PRODUCER" || { tail "$T/produce.log"; fail "producer failed"; }
wait_sql "SELECT count(*) FROM messages" "$want" 120
wait_sql "SELECT count(*) FROM meetings" 10 60
# B owns everything after A left; give it a moment to settle, then check
# nothing more arrives (no late duplicates changing counts).
sleep 2
before="$(table_counts)"
check_expected "$T/gen/expected.json"
check_order

processed=0
for n in a a2 b; do
	c="$(grep -c -E 'debug: record ' "$T/enrich-$n.log")"
	d="$(grep -c ' duplicate ' "$T/enrich-$n.log")"
	note "instance $n: $c records processed, $d of them duplicates"
	processed=$((processed + c))
done
[ "$processed" -ge "$records" ] || fail "only $processed of $records records processed"
grep -c 'partitions assigned' "$T/enrich-b.log" | grep -q '^[2-9]' ||
	note "B was assigned partitions only once (A may have left before B's first join completed)"
stop_pid "$ENRICH_PID_b" 30 || fail "B did not stop"
[ "$(table_counts)" = "$before" ] || fail "counts changed while stopping B"
pass "$records records, kill -9 + restart + rebalance: every record took effect once ($processed processings)"
