#!/usr/bin/env bash
# vec_crash.sh - the embedded vector store survives kill -9.
#
# A writer (crm-vec writer) upserts batches with VEC_SYNC_BATCH, printing
# "ack N" only after vec_upsert() returned, and now and then rewrites a
# batch and compacts.  It is killed with SIGKILL at a random moment,
# ROUNDS times, each round reopening (and so replaying, cutting torn
# tails) the same store.  Then crm-vec verify checks that every
# acknowledged point is present and that every point present is intact
# (its vector and payload are what the writer wrote for its id).
#
# What this proves is process-crash safety: the page cache survives a
# SIGKILL, so it does not exercise fdatasync itself (a power cut would).
# A SIGKILL rarely lands inside a write(2), so every third round also
# appends a fragment of earlier log bytes after the kill, the shape a
# write torn by a power cut leaves; the reopen must cut it and lose
# nothing acknowledged.
#
#   VEC_CRASH_ROUNDS (default 25), VEC_CRASH_SEED (default: random)
# Exit 0 pass, 1 fail.
set -uo pipefail
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
B="${B:-build}"
case "$B" in /*) ;; *) B="$ROOT/$B";; esac
CRMVEC="$B/crm-vec"
ROUNDS="${VEC_CRASH_ROUNDS:-25}"
SEED="${VEC_CRASH_SEED:-$$}"
RANDOM=$SEED

if [ ! -x "$CRMVEC" ]; then
	make -C "$ROOT" B="$B" "$CRMVEC" >/dev/null || { echo "build failed"; exit 1; }
fi
DIR="$(mktemp -d)"
trap 'rm -rf "$DIR"' EXIT
ARGS=(--dir "$DIR/data" --tenant crash --dim 32 --batch 50)
echo "vec_crash: $ROUNDS rounds, seed $SEED"

acked=0 compactions=0 fails=0 torn=0
for round in $(seq 1 "$ROUNDS"); do
	"$CRMVEC" writer "${ARGS[@]}" >"$DIR/out" 2>"$DIR/err" &
	pid=$!
	ms=$((RANDOM % 400 + 10))
	sleep "$(printf '0.%03d' "$ms")"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	if grep -q . "$DIR/err"; then
		echo "round $round: writer said: $(head -n 3 "$DIR/err")"
		fails=$((fails + 1))
	fi
	if [ $((round % 3)) -eq 0 ]; then
		log="$DIR/data/crash/vec.log"
		tail -c 20000 "$log" | head -c $((RANDOM % 15000 + 1)) >"$DIR/frag"
		cat "$DIR/frag" >>"$log"
	fi
	last=$(grep '^ack ' "$DIR/out" | tail -n 1 | cut -d' ' -f2)
	[ -n "$last" ] && [ "$last" -gt "$acked" ] && acked=$last
	compactions=$((compactions + $(grep -c '^compacted' "$DIR/out")))
	stats=$("$CRMVEC" count "${ARGS[@]}")
	count=$(sed -n 's/^count=//p' <<<"$stats")
	cut=$(sed -n 's/^torn_bytes_cut=//p' <<<"$stats")
	[ "${cut:-0}" -gt 0 ] && torn=$((torn + 1))
	if [ -z "$count" ] || [ "$count" -lt "$acked" ]; then
		echo "round $round: FAIL count=${count:-?} < acked=$acked"
		fails=$((fails + 1))
	fi
	tail=$(($(stat -c %s "$DIR/data/crash/vec.log")))
	printf 'round %2d: killed after %3d ms, acked %6d, count %6d, log %d bytes, torn tail cut %d bytes\n' \
	    "$round" "$ms" "$acked" "${count:-0}" "$tail" "${cut:-0}"
done

echo "full check of every point:"
if ! "$CRMVEC" verify "${ARGS[@]}" --acked "$acked"; then
	fails=$((fails + 1))
fi
echo "vec_crash: $ROUNDS kills, $torn left a torn tail, $acked acknowledged points, $compactions compactions during the run"
if [ $fails -eq 0 ]; then
	echo "1 passed, 0 failed"
	exit 0
fi
echo "0 passed, 1 failed"
exit 1
