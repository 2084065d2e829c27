#!/usr/bin/env bash
# imap_idle.sh - IDLE through the target is as fast as IDLE directly
# (issue 2, "Must show" 2).
#
# alice idles on INBOX through the target and directly at the same time;
# 20 messages are delivered over LMTP one at a time and the delivery ->
# "* n EXISTS" latency is measured on both sessions for every delivery.
#
# Pass when, in the same run:
#   median of the per-delivery difference (target - direct) <= 15 ms, and
#   target p95 <= direct p95 + 50 ms.
# Why these numbers: Dovecot 2.3 announces a delivery about 500 ms after
# it (a fixed notify delay), and two plain Dovecot sessions seeing the same
# delivery differ by up to +-20 ms (measured: direct vs direct, 20
# deliveries, p95 of |difference| 14-19 ms).  Relaying one ~20-byte line
# costs two loopback hops and a TLS record each way, well under 1 ms.  The
# median of the paired difference ignores Dovecot's jitter and catches a
# systematic stall: a relay that waits before flushing, Nagle meeting a
# delayed ACK (40 ms on Linux), a timer-driven write loop.  The p95 bound
# catches occasional long stalls (a worker blocked on another session).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib/common.sh"
. "$TLIB/dovecot.sh"
. "$TLIB/proxy.sh"

scenario_init imap_idle 3
dovecot_start
target_start

N="${IDLE_N:-20}"
MEDIAN_MAX="${IDLE_MEDIAN_MAX_MS:-15}"
TAIL_MARGIN="${IDLE_TAIL_MARGIN_MS:-50}"
step "IDLE via target and direct; $N LMTP deliveries"
"$PY" "$HERE/idle_latency.py" "$TARGET_IMAPS" "$DOVE_IMAPS" "$TARGET_CA" \
	"$DOVE_LMTP" "$N" "$T/idle" || fail "idle_latency.py"

tp50="$(percentile "$T/idle.target" 50)"
tp95="$(percentile "$T/idle.target" 95)"
dp50="$(percentile "$T/idle.direct" 50)"
dp95="$(percentile "$T/idle.direct" 95)"
xp50="$(percentile "$T/idle.delta" 50)"
xp95="$(percentile "$T/idle.delta" 95)"
note "delivery -> EXISTS, ms:    p50      p95"
note "  via target ($TARGET_MODE)   $(printf '%8s %8s' "$tp50" "$tp95")"
note "  direct                $(printf '%8s %8s' "$dp50" "$dp95")"
note "  target - direct       $(printf '%8s %8s' "$xp50" "$xp95")"

awk -v x="$xp50" -v m="$MEDIAN_MAX" 'BEGIN { exit !(x <= m) }' ||
	fail "median per-delivery (target - direct) $xp50 ms > $MEDIAN_MAX ms"
awk -v t="$tp95" -v d="$dp95" -v m="$TAIL_MARGIN" 'BEGIN { exit !(t <= d + m) }' ||
	fail "target p95 $tp95 ms > direct p95 $dp95 ms + $TAIL_MARGIN ms"

proxy_alive
proxy_check_log
pass "IDLE p95 target $tp95 ms, direct $dp95 ms, paired delta p50 $xp50 ms p95 $xp95 ms ($TARGET_MODE)"
