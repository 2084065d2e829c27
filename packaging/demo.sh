#!/usr/bin/env bash
# demo.sh - a local demo: a private Dovecot holding demo mail for alice
# (password alicepw) and crm-proxy in front of it, on 127.0.0.1; with the
# test servers installed (packaging/deps.sh test) also the capture
# pipeline behind it: PostgreSQL, a Kafka broker, crm-capture, crm-enrich
# and crm-index, fed by reading the demo mail once through the proxy, and
# a crm-search question at the end, with crm-api serving the same search
# to managers over TLS.  CRM_DEMO_PIPELINE=0: the proxy alone.
#   packaging/demo.sh start     (make demo)   prints how to connect
#   packaging/demo.sh stop      (make demo-stop)
# State lives in ${CRM_DEMO_DIR:-/tmp/crm-demo}; processes are stopped by the
# PIDs recorded there.  Ports: CRM_DEMO_PORT_BASE (default 27000) upwards.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
B="${B:-build}"
case "$B" in /*) ;; *) B="$ROOT/$B";; esac
export ROOT B
DEMO="${CRM_DEMO_DIR:-/tmp/crm-demo}"

stop() {
	local pid i
	[ -f "$DEMO/pids" ] || { echo "demo: not running"; return 0; }
	# newest first, the proxy before the servers behind it; then wait
	# for all of them (each takes 1-3 s to close its connections)
	while read -r pid; do
		kill "$pid" 2>/dev/null
	done <"$DEMO/pids"
	while read -r pid; do
		for ((i = 0; i < 150; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null &&
			echo "demo: pid $pid still runs 15 s after SIGTERM"
	done <"$DEMO/pids"
	rm -f "$DEMO/pids"
	echo "demo: stopped"
}

# What the capture pipeline needs beyond the proxy demo; prints the first
# thing missing, or nothing.
pipeline_missing() {
	local b c
	for b in crm-capture crm-enrich crm-migrate crm-admin crm-index \
	    crm-search crm-vec crm-api; do
		[ -x "$B/$b" ] || { echo "$B/$b (make)"; return; }
	done
	[ -x /usr/lib/postgresql/15/bin/initdb ] ||
		{ echo "postgresql-15"; return; }
	for c in java mvn kcat psql; do
		command -v "$c" >/dev/null || { echo "$c"; return; }
	done
}

# Reads every demo message through the proxy once, as a mail client
# would: that is what the tap captures.
read_all() {
	"$PY" - "$TARGET_IMAPS" "$TARGET_CA" <<'PYEOF'
import imaplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
m = imaplib.IMAP4_SSL("localhost", int(sys.argv[1]), ssl_context=ctx)
m.login("alice", "alicepw")
n = 0
for box in ("INBOX", "Sent"):
    typ, data = m.select(box, readonly=True)
    if typ == "OK" and int(data[0]) > 0:
        typ, got = m.fetch("1:*", "(BODY.PEEK[])")
        n += sum(1 for x in got if isinstance(x, tuple))
m.logout()
print(n)
PYEOF
}

# The managers' API over TLS (the proxy's demo certificate names
# localhost), and a token for tenant acme in $DEMO/api.token.
api_start() {
	alloc_port API_PORT
	{
		cat "$T/search.conf"
		printf '\n[api]\nlisten = 127.0.0.1:%s\ncert = %s\nkey = %s\n' \
		    "$API_PORT" "$T/certs/proxy.pem" "$T/certs/proxy.key"
	} >"$DEMO/api.conf"
	"$B/crm-admin" -d "host=127.0.0.1 port=$PGPORT dbname=crm user=crm_enrich" \
	    token create --tenant acme --name demo >"$DEMO/api.token" || return 1
	chmod 600 "$DEMO/api.token"
	"$B/crm-api" -c "$DEMO/api.conf" >>"$DEMO/crm-api.log" 2>&1 &
	track_pid $! crm-api
	wait_port "$API_PORT" 30 $! || { echo "demo: crm-api did not start" \
	    "(see $DEMO/crm-api.log)"; return 1; }
}

start() {
	local missing="" n i f
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
	# A start that fails stops what it had started (newest first) and
	# keeps $DEMO for inspection; a start that succeeds drops this trap.
	trap _cleanup EXIT
	trap 'exit 130' INT TERM
	if [ "${CRM_DEMO_PIPELINE:-1}" = 1 ]; then
		missing="$(pipeline_missing)"
		[ -z "$missing" ] || echo "demo: $missing is missing" \
		    "(packaging/deps.sh test): starting the proxy alone"
	else
		missing="CRM_DEMO_PIPELINE=0"
	fi
	if [ -z "$missing" ]; then
		. "$TLIB/tap.sh"
		. "$TLIB/enrich.sh"
		. "$TLIB/index.sh"
		echo "demo: PostgreSQL, schema, Kafka broker (first run fetches its jars)"
		enrich_stack
	fi
	dovecot_start || exit 1
	"$PY" "$ROOT/packaging/demo_mail.py" \
	    "$ROOT/tests/fixtures/retrieval/emails.jsonl" "$DEMO/demo-mail" \
	    >/dev/null || exit 1
	dovecot_import alice "$DEMO/demo-mail/inbox" >/dev/null || exit 1
	for f in "$DEMO"/demo-mail/sent/cur/*; do
		dovecot_deliver alice Sent <"$f" || exit 1
	done
	if [ -z "$missing" ]; then
		echo "demo: embedding model (first run fetches it), crm-capture"
		index_stack
		tap_capture_start
		tap_proxy_capture acme
	fi
	target_start || exit 1
	if [ -z "$missing" ]; then
		echo "demo: crm-enrich, crm-index; reading the mail once through the proxy"
		ENRICH_LOG_LEVEL=info enrich_start demo
		index_start_wait demo
		n="$(read_all)" || fail "reading the demo mail through the proxy"
		wait_sql "SELECT count(*) FROM messages" "$n" 120
		index_wait_idle 120
		api_start || exit 1
	fi
	# newest first, so the proxy stops before what is behind it
	for ((i = ${#_pids[@]} - 1; i >= 0; i--)); do
		echo "${_pids[$i]}" >>"$DEMO/pids"
	done
	# The processes must outlive this script: forget them in the
	# library's cleanup trap.
	_pids=()
	trap - EXIT INT TERM
	cat <<EOM

crm-proxy demo is running (state in $DEMO; log $PROXY_LOG)
  IMAP server:  localhost, port $TARGET_IMAP with STARTTLS
                or port $TARGET_IMAPS with SSL/TLS
  user alice, password alicepw; trust the demo CA $TARGET_CA
  Try:  curl --cacert $TARGET_CA imaps://localhost:$TARGET_IMAPS/INBOX -u alice:alicepw
        neomutt -f imaps://alice@localhost:$TARGET_IMAPS/INBOX -e 'set ssl_ca_certificates_file=$TARGET_CA'
EOM
	if [ -z "$missing" ]; then
		cat <<EOM

Every message read through the proxy went proxy -> spool -> Kafka ->
crm-enrich -> PostgreSQL -> crm-index -> vector store ($n messages,
$(sql "SELECT count(*) FROM accounts") accounts, $(sql "SELECT count(*) FROM contacts") contacts).  Ask it, as a manager would:
  $B/crm-search -c $T/search.conf --tenant acme --now 2026-11-20 \\
      "buyer complained about pricing last month"

EOM
		"$B/crm-search" -c "$T/search.conf" --tenant acme \
		    --now 2026-11-20 -n 5 "buyer complained about pricing last month"
		cat <<EOM

The same question over the managers' REST API (crm-api, docs/api.md),
with the demo token in $DEMO/api.token:
  curl --cacert $TARGET_CA -H "Authorization: Bearer \$(cat $DEMO/api.token)" \\
      "https://localhost:$API_PORT/v1/search?q=buyer+complained+about+pricing&since=2026-10-21&limit=3"
EOM
	fi
	echo "  Stop: make demo-stop"
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
