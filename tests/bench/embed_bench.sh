#!/usr/bin/env bash
# embed_bench.sh - embedding engine benchmark (called by tests/bench/run.sh;
# also runs alone).  Prints tokens/s and chunks/s at 32/128/256 tokens and
# the fraction of this machine's OpenBLAS sgemm throughput (measured in the
# same run, at the model's shapes) that the forward pass reaches.
#   EMBED_BENCH_SECONDS  time per measurement (default 2)
set -euo pipefail
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
B="${B:-build}"
case "$B" in /*) ;; *) B="$ROOT/$B";; esac
make -s -C "$ROOT" B="$B" "$B/tests/bench/embed_bench" >/dev/null
MODEL="$("$ROOT/enrich/embed/fetch-model.sh" 2>/dev/null | tail -n 1)"
echo "== embed: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
"$B/tests/bench/embed_bench" "$MODEL" "${EMBED_BENCH_SECONDS:-2}"
