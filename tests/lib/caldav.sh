# tests/lib/caldav.sh - the pieces CalDAV scenarios share.  Source after
# common.sh, certs.sh and kafka.sh.
#
#   caldav_capture_start     a real Kafka broker + crm-capture shipping
#                            $T/spool; topic crm.calendar.v1 created.
#                            Sets KAFKA_BOOTSTRAP.
#   caldav_proxy_start FILE  crm-proxy with a TLS CalDAV listener on
#                            $CALPORT (allocated), the sections in FILE
#                            ([upstream], [route caldav]) appended, tenant
#                            acme, capture into $T/spool.  Sets PROXY_PID,
#                            PROXY_LOG, CALPORT, P (the base URL).
#   caldav_kafka_records N   waits until the topic holds >= N records (60
#                            s), then 2 s more, and writes every record as
#                            kcat JSON lines to $T/kafka.json
#   caldav_proxy_check_log   fails on crash or sanitizer lines
#   caldav_vdirsyncer NAME URL USER PASS
#                            writes $T/vdirsyncer-NAME.conf: a two-way pair
#                            between the CalDAV server at URL (verified
#                            against $CA) and $T/vdir-NAME/<collection>/
#   caldav_vs NAME ARGS...   vdirsyncer with that config (log in
#                            $T/vdirsyncer-NAME.log); fails the scenario
#                            on error.  `caldav_vs NAME discover cal`
#                            answers its questions.

caldav_capture_start() {
	local kport kport2
	alloc_port kport
	alloc_port kport2
	[ "$kport2" = $((kport + 1)) ] || fail "no two adjacent ports for Kafka"
	kafka_start "$T/kafka" "$kport"
	kafka_create_topic crm.calendar.v1
	mkdir -p "$T/spool"
	# the workers write it after dropping to nobody
	[ "$(id -u)" = 0 ] && chown nobody "$T/spool"
	cat >"$T/capture.conf" <<CONF
[spool]
dir = $T/spool
poll_interval_ms = 20
ack_interval_ms = 100
[kafka]
brokers = $KAFKA_BOOTSTRAP
shutdown_timeout = 10s
[metrics]
file = $T/capture.prom
interval_ms = 200
[log]
level = info
CONF
	"$B/crm-capture" -c "$T/capture.conf" >>"$T/capture.log" 2>&1 &
	track_pid $! crm-capture
}

caldav_proxy_start() { # FILE-with-upstreams-and-routes
	alloc_port CALPORT
	PROXY_LOG="$T/crm-proxy.log"
	{
		printf '[proxy]\nworkers = %s\nlog_level = debug\n' \
			"${PROXY_WORKERS:-2}"
		[ "$(id -u)" = 0 ] && printf 'user = nobody\n'
		cat <<CONF
[listen cal]
address = 127.0.0.1:$CALPORT
protocol = caldav
tls = implicit
cert = $T/certs/proxy.pem
key = $T/certs/proxy.key

[capture]
tenant = acme
spool_dir = $T/spool

CONF
		cat "$1"
	} >"$T/crm-proxy.conf"
	"$B/crm-proxy" --check -c "$T/crm-proxy.conf" ||
		fail "--check rejected the config"
	"$B/crm-proxy" -c "$T/crm-proxy.conf" -F >>"$PROXY_LOG" 2>&1 &
	PROXY_PID=$!
	track_pid "$PROXY_PID" crm-proxy
	wait_port "$CALPORT" 10 "$PROXY_PID" ||
		{ tail "$PROXY_LOG"; fail "proxy not listening"; }
	P="https://localhost:$CALPORT"
	export CALPORT P PROXY_PID PROXY_LOG
}

caldav_kafka_records() { # N
	local i n
	for i in $(seq 1 120); do
		n="$(timeout 20 kcat -b "$KAFKA_BOOTSTRAP" -C -t crm.calendar.v1 \
			-o beginning -e -q -f '%o\n' 2>/dev/null | wc -l)"
		[ "$n" -ge "$1" ] && break
		sleep 0.5
	done
	sleep 2	# anything extra would show up now
	timeout 20 kcat -b "$KAFKA_BOOTSTRAP" -C -t crm.calendar.v1 \
		-o beginning -e -q -J >"$T/kafka.json" 2>/dev/null
}

caldav_proxy_check_log() {
	kill -0 "$PROXY_PID" 2>/dev/null || fail "crm-proxy died"
	if grep -nE 'AddressSanitizer|runtime error:|Segmentation|assertion' \
		"$PROXY_LOG"; then
		fail "crash or sanitizer report in the proxy log"
	fi
}

caldav_vdirsyncer() { # NAME URL USER PASS
	mkdir -p "$T/vdir-$1"
	cat >"$T/vdirsyncer-$1.conf" <<EOF
[general]
status_path = "$T/vdirsyncer-status-$1/"
[pair cal]
a = "cal_remote"
b = "cal_local"
collections = ["from a", "from b"]
conflict_resolution = "a wins"
[storage cal_remote]
type = "caldav"
url = "$2"
username = "$3"
password = "$4"
verify = "$CA"
[storage cal_local]
type = "filesystem"
path = "$T/vdir-$1/"
fileext = ".ics"
EOF
}

caldav_vs() { # NAME ARGS...
	local name="$1"
	shift
	# discover asks whether to create collections: answer yes (not
	# `yes |`, which dies of SIGPIPE under pipefail)
	VDIRSYNCER_CONFIG="$T/vdirsyncer-$name.conf" vdirsyncer "$@" \
	    >>"$T/vdirsyncer-$name.log" 2>&1 < <(yes) ||
		{ tail -20 "$T/vdirsyncer-$name.log"; fail "vdirsyncer ($name) $*"; }
}
