#!/usr/bin/env bash
# tap.bench.sh - what the capture tap costs crm-proxy: bulk FETCH MB/s and
# CPU seconds per GB relayed, tap off vs tap on (docs/capture.md).
#
# One private Dovecot holding mailgen's 500 messages (27 MB, five 2-6 MB);
# crm-proxy in front of it with TLS on both legs (tests/lib/proxy.sh); for
# the tap-on row, [capture] on, crm-capture shipping the spool to a real
# Kafka broker (tests/lib/kafka.sh) the whole time.  imapbench bulk: 4
# connections x 2 whole-mailbox UID FETCH 1:* BODY.PEEK[], BENCH_TAP_ROUNDS
# rounds (3); the median MB/s and the proxy's CPU (parent and workers,
# utime + stime) per GB relayed.  crm-capture's CPU is reported on its own:
# it is the shipping, not the relay.
#
# Environment: BENCH_TAP_ROUNDS [3], CRM_TEST_PORT_BASE/SPAN (ports, as for
# the scenarios).  Output: the table on stdout and in $BENCH_OUT/tap.txt.
set -uo pipefail
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
B="${B:-$ROOT/build}"
BENCH_OUT="${BENCH_OUT:-$B/bench}"
. "$ROOT/tests/lib/common.sh"
. "$TLIB/dovecot.sh"
. "$TLIB/proxy.sh"
. "$TLIB/tap.sh"
IB="$B/tests/bench/imapbench"
ROUNDS="${BENCH_TAP_ROUNDS:-3}"
[ -x "$IB" ] || fail "$IB is missing (make imapbench)"
[ -x "$B/crm-proxy" ] || fail "$B/crm-proxy is missing"

scenario_init tap_bench 19
dovecot_start
"$PY" "$TLIB/mailgen.py" maildir --count 500 "$T/corpus" >/dev/null ||
	fail "mailgen"
dovecot_import alice "$T/corpus" || fail "doveadm import"
tap_kafka_start
tap_capture_start

ticks() { # PID -> utime+stime of PID and its children, in clock ticks
	local p s=0 v
	for p in "$1" $(pgrep -P "$1"); do
		v="$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }')"
		s=$((s + ${v:-0}))
	done
	echo "$s"
}
HZ="$(getconf CLK_TCK)"
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

run_rows() { # LABEL
	local label="$1" r out t0 t1 c0 c1 bytes=0 mbs=() pticks=0 cticks=0
	"$IB" bulk -m INBOX -c 1 --tls -p "$TARGET_IMAPS" --max-time 120 \
		>/dev/null 2>>"$T/ib.err" || fail "$label: warm-up bulk failed"
	for r in $(seq 1 "$ROUNDS"); do
		t0="$(ticks "$PROXY_PID")"
		c0="$(ticks "$CAPTURE_PID")"
		out="$("$IB" bulk -m INBOX -c 4 -r 2 --tls -p "$TARGET_IMAPS" \
			--max-time 300 2>>"$T/ib.err" | grep '^RESULT')" ||
			fail "$label: bulk round $r failed"
		t1="$(ticks "$PROXY_PID")"
		c1="$(ticks "$CAPTURE_PID")"
		grep -q 'status=ok' <<<"$out" || fail "$label: $out"
		mbs+=("$(tr ' ' '\n' <<<"$out" | sed -n 's/^mb_per_s=//p')")
		bytes=$((bytes + $(tr ' ' '\n' <<<"$out" | sed -n 's/^bytes=//p')))
		pticks=$((pticks + t1 - t0))
		cticks=$((cticks + c1 - c0))
	done
	ROW_MBS="$(printf '%s\n' "${mbs[@]}" | median)"
	ROW_CPU="$(awk -v t="$pticks" -v hz="$HZ" -v b="$bytes" 'BEGIN { printf "%.2f", t / hz / (b / 1e9) }')"
	ROW_CAP="$(awk -v t="$cticks" -v hz="$HZ" -v b="$bytes" 'BEGIN { printf "%.2f", t / hz / (b / 1e9) }')"
	ROW_GB="$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1e9 }')"
}

step "tap off"
target_start
run_rows off
OFF=("$ROW_MBS" "$ROW_CPU" "$ROW_GB")
stop_pid "$PROXY_PID" 10

step "tap on (crm-capture shipping to Kafka meanwhile)"
tap_proxy_capture bench
proxy_write_conf "$PROXY_CONF" "$TARGET_IMAP" "$TARGET_IMAPS"
"$B/crm-proxy" -c "$PROXY_CONF" -F >>"$PROXY_LOG" 2>&1 &
PROXY_PID=$!
track_pid "$PROXY_PID" crm-proxy
wait_port "$TARGET_IMAPS" 10 "$PROXY_PID" || fail "crm-proxy (tap on) did not start"
run_rows on
sleep 1.5
captured="$(tap_metric crm_proxy_tap_captured_total)"
dropped="$(tap_metric crm_proxy_tap_dropped_total)"

mkdir -p "$BENCH_OUT"
{
	echo "capture tap cost: imapbench bulk, 4 conns x 2 whole-mailbox fetches of 500 messages (27 MB), TLS both legs, $ROUNDS rounds"
	printf '%-8s %10s %14s %20s %8s\n' tap "bulk MB/s" "proxy CPU s/GB" "crm-capture CPU s/GB" "GB"
	printf '%-8s %10s %14s %20s %8s\n' off "${OFF[0]}" "${OFF[1]}" "-" "${OFF[2]}"
	printf '%-8s %10s %14s %20s %8s\n' on "$ROW_MBS" "$ROW_CPU" "$ROW_CAP" "$ROW_GB"
	echo "tap on: $captured messages captured, $dropped lost to the spool; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$BENCH_OUT/tap.txt"
proxy_check_log
pass "tap bench"
