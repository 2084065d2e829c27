#!/usr/bin/env bash
# run.sh - runs libFuzzer targets for `make fuzz`.
#   tests/fuzz/run.sh BUILD_DIR NAME...
# For each NAME runs BUILD_DIR/tests/fuzz/fuzz_NAME for $FUZZ_SECONDS
# (default 60) with tests/fuzz/NAME.dict when present, on a working copy of
# the seed corpus (and of earlier crash reproducers) kept under
# BUILD_DIR/fuzz-work/NAME/, so the git tree is never written to - except
# that a new crash reproducer is copied to tests/fuzz/crashes/NAME/, where
# `make test` replays it from then on.
# Prints one table row per target; exits non-zero if any target crashed.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR NAME..." >&2; exit 2; }
B="$1"; shift
case "$B" in /*) ;; *) B="$ROOT/$B";; esac
SECONDS_EACH="${FUZZ_SECONDS:-60}"
# UBSan reports must stop the run like ASan ones do.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"

rows=() crashed=0
for name in "$@"; do
	bin="$B/tests/fuzz/fuzz_$name"
	work="$B/fuzz-work/$name"
	if [ ! -x "$bin" ]; then
		rows+=("$name|-|-|-|-|missing binary")
		crashed=1
		continue
	fi
	rm -rf "$work/artifacts"
	mkdir -p "$work/corpus" "$work/artifacts"
	for d in "$ROOT/tests/fuzz/corpus/$name" "$ROOT/tests/fuzz/crashes/$name"; do
		[ -d "$d" ] && cp -f "$d"/* "$work/corpus/" 2>/dev/null
	done
	args=(-max_total_time="$SECONDS_EACH" -print_final_stats=1
	    -timeout=10 -artifact_prefix="$work/artifacts/")
	[ -f "$ROOT/tests/fuzz/$name.dict" ] &&
		args+=(-dict="$ROOT/tests/fuzz/$name.dict")
	echo "fuzz_$name: ${SECONDS_EACH}s, log $work/fuzz.log" >&2
	"$bin" "${args[@]}" "$work/corpus" >"$work/fuzz.log" 2>&1
	rc=$?

	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz.log" | tail -n 1)
	# the last status line ("#N DONE cov: X ft: Y ...") has the totals
	status=$(grep -E '^#[0-9]+.*cov: [0-9]+' "$work/fuzz.log" | tail -n 1)
	cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$status")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")

	result=ok
	found=("$work"/artifacts/*)
	if [ $rc -ne 0 ] || [ -e "${found[0]}" ]; then
		crashed=1
		result="CRASH (exit $rc)"
		if [ -e "${found[0]}" ]; then
			mkdir -p "$ROOT/tests/fuzz/crashes/$name"
			for f in "${found[@]}"; do
				cp "$f" "$ROOT/tests/fuzz/crashes/$name/"
				echo "fuzz_$name: reproducer tests/fuzz/crashes/$name/$(basename "$f")" >&2
			done
		fi
		grep -m 3 -E 'ERROR|runtime error|deadly signal' "$work/fuzz.log" | sed 's/^/    | /' >&2
	fi
	rows+=("$name|${execs:--}|${rate:--}|${cov:--}|${ft:--}|$result")
done

printf '%-14s %12s %9s %7s %7s  %s\n' target execs exec/s cov ft result
for r in "${rows[@]}"; do
	IFS='|' read -r n e s c f res <<<"$r"
	printf '%-14s %12s %9s %7s %7s  %s\n' "$n" "$e" "$s" "$c" "$f" "$res"
done
exit $crashed
