#!/usr/bin/env bash
# demo.sh - a local demo: a private Dovecot holding demo mail for alice
# (password alicepw) and crm-proxy in front of it, on 127.0.0.1.
#   packaging/demo.sh start     (make demo)   prints how to connect
#   packaging/demo.sh stop      (make demo-stop)
# State lives in ${CRM_DEMO_DIR:-/tmp/crm-demo}; processes are stopped by the
# PIDs recorded there.  Ports: CRM_DEMO_PORT_BASE (default 27000) upwards.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT B="${B:-build}"
DEMO="${CRM_DEMO_DIR:-/tmp/crm-demo}"

stop() {
	[ -f "$DEMO/pids" ] || { echo "demo: not running"; return 0; }
	while read -r pid; do
		kill "$pid" 2>/dev/null
	done <"$DEMO/pids"
	sleep 1
	rm -f "$DEMO/pids"
	echo "demo: stopped"
}

start() {
	[ -f "$DEMO/pids" ] && stop
	rm -rf "$DEMO"
	mkdir -p "$DEMO"
	chmod 755 "$DEMO"
	# shellcheck source=../tests/lib/common.sh
	. "$ROOT/tests/lib/common.sh"
	. "$TLIB/dovecot.sh"
	. "$TLIB/proxy.sh"
	_scenario=demo
	T="$DEMO"
	_port_next="${CRM_DEMO_PORT_BASE:-27000}"
	_port_end=$((_port_next + 100))
	export T
	dovecot_start || exit 1
	echo "$DOVE_PID" >>"$DEMO/pids"
	"$PY" "$TLIB/mailgen.py" maildir "$DEMO/demo-mail" --count 25 --big 1 \
	    --big-min 1 --big-max 1 >/dev/null || exit 1
	dovecot_import alice "$DEMO/demo-mail" >/dev/null || exit 1
	target_start || exit 1
	echo "$PROXY_PID" >>"$DEMO/pids"
	# The processes must outlive this script: forget them in the
	# library's cleanup trap.
	_pids=()
	trap - EXIT
	cat <<EOM

crm-proxy demo is running (state in $DEMO; log $PROXY_LOG)
  IMAP server:  localhost, port $TARGET_IMAP with STARTTLS
                or port $TARGET_IMAPS with SSL/TLS
  user alice, password alicepw; trust the demo CA $TARGET_CA
  Try:  curl --cacert $TARGET_CA imaps://localhost:$TARGET_IMAPS/INBOX -u alice:alicepw
        neomutt -f imaps://alice@localhost:$TARGET_IMAPS/INBOX -e 'set ssl_ca_certificates_file=$TARGET_CA'
  Stop: make demo-stop
EOM
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
