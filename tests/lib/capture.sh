# tests/lib/capture.sh - helpers shared by the capture_* scenarios: a
# scenario temp dir, crm-capture started and stopped by PID, kcat checks.
# Source after setting ROOT and B (tests/run.sh exports both).
: "${ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${B:=$ROOT/build}"
case "$B" in /*) ;; *) B="$ROOT/$B";; esac
CAPTURE="$B/crm-capture"
SPOOL_TOOL="$B/tests/tools/spool-tool"
_CAPTURE_PIDS=()
track_pid() { _CAPTURE_PIDS+=("$1"); }
fail() { echo "FAIL: $*" >&2; exit 1; }
. "$ROOT/tests/lib/kafka.sh"

[ -x "$CAPTURE" ] && [ -x "$SPOOL_TOOL" ] ||
	fail "build first: make $CAPTURE $SPOOL_TOOL"
T="$(mktemp -d /tmp/crm-capture-test.XXXXXX)"
chmod 755 "$T"

capture_cleanup() {
	local p
	for p in "${_CAPTURE_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${_CAPTURE_PIDS[@]}"; do
		for _ in $(seq 1 100); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
	done
	if [ "${KEEP:-}" = 1 ]; then
		echo "kept $T"
	else
		rm -rf "$T"
	fi
}
trap capture_cleanup EXIT

capture_conf() { # SPOOL_DIR -> $T/capture.conf
	cat >"$T/capture.conf" <<CONF
[spool]
dir = $1
poll_interval_ms = 20
ack_interval_ms = 100
[kafka]
brokers = $KAFKA_BOOTSTRAP
compression = lz4
message_max = 65m
shutdown_timeout = 20s
[metrics]
file = $T/metrics.prom
interval_ms = 200
[log]
level = info
CONF
}

capture_start() { # -> CAPTURE_PID
	"$CAPTURE" -c "$T/capture.conf" >>"$T/capture.log" 2>&1 &
	CAPTURE_PID=$!
	track_pid "$CAPTURE_PID"
}

capture_stop() { # clean stop; fails the test on a bad exit
	local rc=0
	kill -TERM "$CAPTURE_PID"
	wait "$CAPTURE_PID" || rc=$?
	[ $rc = 0 ] || fail "crm-capture exited $rc on SIGTERM"
}

metric() { # NAME -> value from the metrics file
	sed -n "s/^crm_capture_$1 //p" "$T/metrics.prom" 2>/dev/null
}

wait_metric() { # NAME VALUE SECONDS
	local i
	for i in $(seq 1 $(($3 * 10))); do
		[ "$(metric "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	fail "metric $1 is '$(metric "$1")', expected $2"
}

KCAT_BIG=(-X fetch.message.max.bytes=70000000
	-X receive.message.max.bytes=71000000)

# Every record now on TOPIC, counted (no waiting for more).
kafka_count() { # TOPIC
	timeout 120 kcat -b "$KAFKA_BOOTSTRAP" -C -t "$1" -o beginning -e -q \
	    "${KCAT_BIG[@]}" -f '%o\n' | wc -l
}

# spool-tool verify with kcat as the consumer, from the beginning.
verify_topic() { # spool-tool options...
	"$SPOOL_TOOL" verify "$@" -- kcat -b "$KAFKA_BOOTSTRAP" -C \
	    -t crm.mail.v1 -o beginning -u -q "${KCAT_BIG[@]}" \
	    -f '%S %k %h\n%s\n'
}
