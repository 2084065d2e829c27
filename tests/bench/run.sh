#!/usr/bin/env bash
# run.sh - the benchmark driver behind `make bench`.
#   tests/bench/run.sh [NAME...]
# Runs every tests/bench/*.bench.sh (and *_bench.sh) in name order, or only
# those whose name contains one of the NAMEs.  Each script is a plugin: it
# gets ROOT, B and BENCH_OUT (= $B/bench) in its environment, prints its
# own report and writes it to $BENCH_OUT/<name>.txt.  A missed performance
# target is a finding, not a failure: a plugin exits nonzero only when the
# harness itself broke (a server would not start, a tool is missing).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
B="${B:-build}"
case "$B" in /*) ;; *) B="$ROOT/$B";; esac
BENCH_OUT="$B/bench"
export ROOT B BENCH_OUT
mkdir -p "$BENCH_OUT"

scripts=()
for s in "$ROOT"/tests/bench/*.bench.sh "$ROOT"/tests/bench/*_bench.sh; do
	[ -f "$s" ] || continue
	name="$(basename "$s")"; name="${name%.sh}"; name="${name%.bench}"
	if [ $# -gt 0 ]; then
		keep=0
		for want in "$@"; do
			case "$name" in *"$want"*) keep=1;; esac
		done
		[ $keep = 1 ] || continue
	fi
	scripts+=("$s")
done
if [ ${#scripts[@]} -eq 0 ]; then
	echo "bench: no benchmark matches '$*'" >&2
	exit 2
fi

failed=()
for s in "${scripts[@]}"; do
	name="$(basename "$s")"
	echo "== $name"
	t0=$SECONDS
	bash "$s"
	rc=$?
	echo "== $name: exit $rc, $((SECONDS - t0)) s"
	[ $rc -eq 0 ] || failed+=("$name")
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "bench: harness failure in: ${failed[*]}" >&2
	exit 1
fi
echo "bench: reports in $BENCH_OUT/"
