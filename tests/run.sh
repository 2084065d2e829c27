#!/usr/bin/env bash
# run.sh - the test runner behind `make test`.
#   tests/run.sh [unit] [fuzz-replay] [integration] [NAME...]
# With no argument runs all three groups.  A NAME runs the integration
# scenario(s) whose file name contains it.  Each test's output goes to
# $B/test-logs/<name>.log and is printed when the test fails.
# Exit 77 from a scenario means "skipped" (a server is missing); under
# CI=true a skip counts as a failure (tests/README.md).
# The last line is "N passed, N failed[, N skipped]".
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
B="${B:-build}"
case "$B" in /*) ;; *) B="$ROOT/$B";; esac
export ROOT B
LOGS="$B/test-logs"; mkdir -p "$LOGS"
pass=0 fail=0 skip=0 failed=()

run_one() { # name cmd...
	local name="$1"; shift
	local log="$LOGS/${name//\//_}.log" t0=$SECONDS rc
	"$@" >"$log" 2>&1 </dev/null
	rc=$?
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1)); printf 'PASS  %-44s %4ss\n' "$name" $((SECONDS - t0))
	elif [ $rc -eq 77 ] && [ "${CI:-}" != true ]; then
		skip=$((skip + 1)); printf 'SKIP  %-44s (%s)\n' "$name" "$(tail -n 1 "$log")"
	else
		fail=$((fail + 1)); failed+=("$name")
		printf 'FAIL  %-44s %4ss (exit %d, log %s)\n' "$name" $((SECONDS - t0)) $rc "$log"
		tail -n 40 "$log" | sed 's/^/      | /'
	fi
}

groups=("$@"); [ ${#groups[@]} -eq 0 ] && groups=(unit fuzz-replay integration)
for g in "${groups[@]}"; do
	case "$g" in
	unit)
		for t in "$B"/tests/unit/test_*; do
			[ -x "$t" ] || continue
			run_one "unit/$(basename "$t")" "$t"
		done;;
	fuzz-replay)
		for t in "$B"/tests/fuzz/replay_*; do
			[ -x "$t" ] || continue
			n="${t##*/replay_}"
			dirs=()
			for d in "$ROOT/tests/fuzz/corpus/$n" "$ROOT/tests/fuzz/crashes/$n"; do
				[ -d "$d" ] && dirs+=("$d")
			done
			[ ${#dirs[@]} -gt 0 ] || continue
			run_one "fuzz-replay/$n" "$t" "${dirs[@]}"
		done;;
	integration)
		for s in "$ROOT"/tests/integration/*.sh; do
			[ -f "$s" ] || continue
			run_one "integration/$(basename "$s" .sh)" bash "$s"
		done;;
	*)
		found=0
		for s in "$ROOT"/tests/integration/*"$g"*.sh; do
			[ -f "$s" ] || continue
			found=1; run_one "integration/$(basename "$s" .sh)" bash "$s"
		done
		[ $found = 1 ] || { echo "run.sh: no test matches '$g'" >&2; fail=$((fail + 1)); };;
	esac
done
[ ${#failed[@]} -eq 0 ] || printf 'failed: %s\n' "${failed[*]}"
if [ $skip -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ $fail -eq 0 ]
