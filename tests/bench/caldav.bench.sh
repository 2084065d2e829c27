#!/usr/bin/env bash
# caldav.bench.sh - CalDAV requests/s through crm-proxy vs Radicale direct
# (docs/bench.md, "CalDAV").
#
# One private Radicale 3 holding a calendar of 20 events; the load
# (caldav_load.py, CONNS threads for SECS each row) alternates a
# calendar-query REPORT of the whole calendar and a GET of one event.
#   direct       Radicale, plain HTTP
#   crm-proxy    protocol = caldav listener, tls none both legs, no capture
#   crm-tap      the same with the capture tap on (spool written, nothing
#                ships it): every REPORT is parsed and de-duplicated
#   direct-tls   Radicale over HTTPS
#   crm-tls      crm-proxy HTTPS listener -> Radicale HTTPS, verified
# Environment: BENCH_BASE [22000] (ports BASE+232..236),
# BENCH_CALDAV_SECS [5], BENCH_CALDAV_CONNS [4], BENCH_KEEP=1.
# Output: the table on stdout and in $BENCH_OUT/caldav.txt.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mkdir -p "$BENCH_OUT"

BASE="${BENCH_BASE:-22000}"
SECS="${BENCH_CALDAV_SECS:-5}"
CONNS="${BENCH_CALDAV_CONNS:-4}"
CRM_PROXY="${CRM_PROXY:-$B/crm-proxy}"
PY=/usr/bin/python3
P_RAD=$((BASE + 232)) P_RADS=$((BASE + 233)) P_CRM=$((BASE + 234))
P_TAP=$((BASE + 235)) P_TLS=$((BASE + 236))
command -v radicale >/dev/null || die "radicale not installed (packaging/deps.sh test)"
[ -x "$CRM_PROXY" ] || die "$CRM_PROXY missing (make)"

W="$(mktemp -d /tmp/crm-bench-caldav.XXXXXX)"
chmod 755 "$W"
cleanup() {
	for f in "$W"/*.pid; do [ -f "$f" ] && bench_stop "$f"; done
	bench_workdir_done "$W"
}
trap cleanup EXIT
. "$ROOT/tests/lib/certs.sh"
certs_make "$W/certs" || die "certificates"
CA="$W/certs/ca.pem"
CERT="$W/certs/dovecot.pem"	# Radicale's; the proxy gets its own
KEY="$W/certs/dovecot.key"

rad_start() { # NAME PORT [tls]
	local d="$W/$1"
	mkdir -p "$d/collections"
	printf 'alice:alicepw\n' >"$d/htpasswd"
	{
		printf '[server]\nhosts = 127.0.0.1:%s\n' "$2"
		[ -n "${3:-}" ] && printf 'ssl = True\ncertificate = %s\nkey = %s\n' "$CERT" "$KEY"
		printf '[auth]\ntype = htpasswd\nhtpasswd_filename = %s\n' "$d/htpasswd"
		printf 'htpasswd_encryption = plain\ndelay = 0\n[rights]\ntype = owner_only\n'
		printf '[storage]\nfilesystem_folder = %s/collections\n' "$d"
		printf '[logging]\nlevel = warning\n'
	} >"$d/config"
	radicale -C "$d/config" >"$d/log" 2>&1 &
	echo $! >"$W/$1.pid"
	bench_wait_port "$2" "$W/$1.pid" || die "radicale $1 did not start"
}
rad_start rad "$P_RAD"
rad_start rads "$P_RADS" tls
# both share nothing; fill each with the same calendar
for u in "http://127.0.0.1:$P_RAD" "https://localhost:$P_RADS"; do
	curl -sS --cacert "$CA" -u alice:alicepw -X MKCALENDAR "$u/alice/bench/" -o /dev/null
	for i in $(seq 0 19); do
		printf 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\nUID:e%d@bench\r\nDTSTAMP:20260101T090000Z\r\nDTSTART:20260115T100000Z\r\nSUMMARY:Bench event %d with a longer summary line\r\nORGANIZER:mailto:alice@acme.example\r\nATTENDEE:mailto:bob@customer.example\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n' "$i" "$i" |
		curl -sS --cacert "$CA" -u alice:alicepw -X PUT -H 'Content-Type: text/calendar' \
			--data-binary @- "$u/alice/bench/e$i.ics" -o /dev/null
	done
done

proxy_conf() { # FILE PORT TLS UPSTREAM_PORT UPSTREAM_TLS SPOOL
	{
		printf '[proxy]\nworkers = 2\nlog_level = warn\n'
		[ "$(id -u)" = 0 ] && printf 'user = nobody\n'
		printf '[listen cal]\naddress = 127.0.0.1:%s\nprotocol = caldav\ntls = %s\n' "$2" "$3"
		[ "$3" = implicit ] && printf 'cert = %s\nkey = %s\n' \
			"$W/certs/proxy.pem" "$W/certs/proxy.key"
		printf '[upstream rad]\naddress = 127.0.0.1:%s\ntls = %s\n' "$4" "$5"
		[ "$5" = implicit ] && printf 'ca_file = %s\nserver_name = localhost\n' "$CA"
		printf '[route caldav]\ndefault = rad\n[capture]\ntenant = bench\n'
		if [ -n "$6" ]; then printf 'spool_dir = %s\n' "$6"; fi
	} >"$1"
}
mkdir -p "$W/spool"
[ "$(id -u)" = 0 ] && chown nobody "$W/spool"
proxy_conf "$W/crm.conf" "$P_CRM" none "$P_RAD" none ""
proxy_conf "$W/tap.conf" "$P_TAP" none "$P_RAD" none "$W/spool"
proxy_conf "$W/tls.conf" "$P_TLS" implicit "$P_RADS" implicit ""
for n in crm tap tls; do
	"$CRM_PROXY" -c "$W/$n.conf" -F >>"$W/$n.log" 2>&1 &
	echo $! >"$W/$n.pid"
done
bench_wait_port "$P_CRM" "$W/crm.pid" && bench_wait_port "$P_TAP" "$W/tap.pid" &&
	bench_wait_port "$P_TLS" "$W/tls.pid" || die "crm-proxy did not start"

run() { # NAME URL
	local out
	out="$("$PY" "$HERE/caldav_load.py" "$2" "$CA" "$SECS" "$CONNS")"
	printf '%-11s %s\n' "$1" "$out"
	echo "$out" | grep -q ' errors=0 ' || bench_log "$1: errors ($out)"
}
{
	echo "CalDAV: $CONNS connections x ${SECS}s, REPORT (20 events) / GET alternating; load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	run direct "http://127.0.0.1:$P_RAD"
	run crm-proxy "http://127.0.0.1:$P_CRM"
	run crm-tap "http://127.0.0.1:$P_TAP"
	run direct-tls "https://localhost:$P_RADS"
	run crm-tls "https://localhost:$P_TLS"
	n="$(grep -c . "$W/tap.log" || true)"
	echo "crm-tap: spool $(du -sk "$W/spool" | cut -f1) kB after the run; proxy log lines: $n"
} | tee "$BENCH_OUT/caldav.txt"
