# tests/lib/tap.sh - helpers for the capture-tap scenarios (tap_*): a real
# Kafka broker, crm-capture shipping the proxy's spool, and the proxy's
# [capture] settings.  Source after common.sh, dovecot.sh and proxy.sh.
#
#   tap_kafka_start            broker in $T/kafka on two ports of the block;
#                              sets KAFKA_BOOTSTRAP; creates the topics
#   tap_capture_start          crm-capture on $T/spool -> KAFKA_BOOTSTRAP
#                              (CAPTURE_PID; log in $T/capture.log)
#   tap_capture_stop           SIGTERM, waits
#   tap_proxy_capture [TENANT] sets PROXY_EXTRA's [capture] section (spool
#                              $T/spool, metrics $T/proxy.prom) and routes
#                              the default to TENANT (PROXY_ROUTE_TENANT)
#   tap_kafka_read TOPIC OUT [--expect N --timeout S --values]
#   tap_metric NAME            a value from $T/proxy.prom
. "$TLIB/kafka.sh"

TAP_CHECK="$(dirname "${BASH_SOURCE[0]}")/../integration/tap_check.py"

tap_kafka_start() {
	kafka_require
	local kp kc
	alloc_port kp
	alloc_port kc
	[ "$kc" = $((kp + 1)) ] || fail "no two adjacent free ports for Kafka"
	kafka_start "$T/kafka" "$kp"
	kafka_create_topic crm.mail.v1
	kafka_create_topic crm.mail.seen.v1
	note "kafka pid $KAFKA_PID on $KAFKA_BOOTSTRAP"
}

tap_capture_start() {
	[ -x "$B/crm-capture" ] || fail "build first: make $B/crm-capture"
	cat >"$T/capture.conf" <<CONF
[spool]
dir = $T/spool
poll_interval_ms = 20
ack_interval_ms = 100
[kafka]
brokers = $KAFKA_BOOTSTRAP
compression = lz4
message_max = 65m
linger_ms = 5
shutdown_timeout = 20s
[metrics]
file = $T/capture.prom
interval_ms = 200
[log]
level = info
CONF
	"$B/crm-capture" -c "$T/capture.conf" >>"$T/capture.log" 2>&1 &
	CAPTURE_PID=$!
	track_pid "$CAPTURE_PID" crm-capture
}

tap_capture_stop() {
	stop_pid "$CAPTURE_PID" 30 || fail "crm-capture needed SIGKILL"
}

tap_proxy_capture() { # [TENANT]
	PROXY_ROUTE_TENANT="${1:-acme}"
	PROXY_EXTRA="
[capture]
enabled = yes
spool_dir = $T/spool
spool_max = 2g
metrics_file = $T/proxy.prom
metrics_interval = 1s
${TAP_CAPTURE_EXTRA:-}
${TAP_TENANTS:-}"
	export PROXY_ROUTE_TENANT PROXY_EXTRA
}

tap_kafka_read() { # TOPIC OUT [opts]
	local topic="$1" out="$2"
	shift 2
	"$PY" "$TAP_CHECK" kafka "$KAFKA_BOOTSTRAP" "$topic" "$out" "$@"
}

tap_metric() { # NAME
	sed -n "s/^$1 //p" "$T/proxy.prom" 2>/dev/null
}
