#!/usr/bin/env bash
# imap_reload.sh - SIGHUP reload without dropping sessions, SIGTERM clean
# shutdown, --check with file:line errors (issue 2, foundation).
#
# reload.py keeps an IDLE session open through the target while a new
# config (an extra implicit-TLS listener) is installed and SIGHUP sent: the
# new listener must answer, the old session must still get EXISTS, DONE,
# NOOP and FETCH.  A broken config plus SIGHUP must leave the daemon running
# on the last good one.  SIGTERM must end the idling session (BYE or EOF)
# within 5 s and the daemon must exit with status 0 within 5 s more,
# leaving no worker and no listener behind.  Then --check must reject a
# config with a value that does not parse and name file:line, accept the
# good config, and --help must exit 0.
#
# Against Dovecot directly (CRM_TEST_DIRECT=1) the same steps run on
# Dovecot's master (new inet_listener, SIGHUP, SIGTERM) and `doveconf` plays
# --check; Dovecot's shutdown takes about 10 s with an idling session, so
# the exit bound is 20 s there.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib/common.sh"
. "$TLIB/dovecot.sh"
. "$TLIB/proxy.sh"

scenario_init imap_reload 6
dovecot_start
target_start
alloc_port NEW_PORT

if [ "$TARGET_MODE" = proxy ]; then
	DPID="$PROXY_PID"
	CONF="$PROXY_CONF"
	cp "$CONF" "$T/good.conf"
	PROXY_EXTRA="
[listen imaps2]
address = 127.0.0.1:$NEW_PORT
tls = implicit
cert = $T/certs/proxy.pem
key = $T/certs/proxy.key
" proxy_write_conf "$T/new.conf"
	# broken: a value that does not parse, on a known line
	sed 's/^buffer_low = .*/buffer_low = lots/' "$T/new.conf" >"$T/bad.conf"
	workers_before="$(proxy_workers | tr '\n' ' ')"
	bound=5
else
	DPID="$DOVE_PID"
	CONF="$DOVE_CONF"
	awk -v p="$NEW_PORT" '{ print }
		/^service imap-login \{/ {
			print "  inet_listener imaps2 {"
			print "    address = 127.0.0.1"
			print "    port = " p
			print "    ssl = yes"
			print "  }"
		}' "$CONF" >"$T/new.conf"
	sed 's/^mailbox_idle_check_interval = .*/mailbox_idle_check_interval = lots/' \
		"$T/new.conf" >"$T/bad.conf"
	workers_before=""
	# Dovecot's imap processes take about 10 s to go after the master's
	# SIGTERM when a session is idling
	bound=20
fi

step "reload with a live IDLE session ($TARGET_MODE)"
TERM_BOUND=$bound "$PY" "$HERE/reload.py" "$TARGET_HOST" "$TARGET_IMAPS" "$NEW_PORT" \
	"$TARGET_CA" "$DOVE_LMTP" \
	"cp '$T/new.conf' '$CONF' && kill -HUP $DPID" \
	"cp '$T/bad.conf' '$CONF' && kill -HUP $DPID" \
	"kill -TERM $DPID" || fail "reload.py"

step "exit after SIGTERM"
t0=$(now_ms)
for ((i = 0; i < bound * 20; i++)); do
	kill -0 "$DPID" 2>/dev/null || break
	sleep 0.05
done
kill -0 "$DPID" 2>/dev/null && fail "still running $bound s after SIGTERM"
wait "$DPID"
rc=$?
note "exited with status $rc, $(($(now_ms) - t0)) ms after the session saw BYE/EOF"
if [ "$TARGET_MODE" = proxy ]; then
	[ $rc = 0 ] || fail "crm-proxy exited $rc after SIGTERM, want 0"
	for w in $workers_before; do
		kill -0 "$w" 2>/dev/null && fail "worker $w outlived the parent"
	done
	proxy_check_log
fi
for p in "$TARGET_IMAPS" "$NEW_PORT"; do
	(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null &&
		fail "port $p still accepts connections after shutdown"
done
note "no listener left"

step "--check reports file:line"
line="$(grep -n '= lots$' "$T/bad.conf" | cut -d: -f1)"
if [ "$TARGET_MODE" = proxy ]; then
	"$B/crm-proxy" --check -c "$T/bad.conf" >"$T/check.out" 2>&1
	rc=$?
	want="$T/bad.conf:$line"
	"$B/crm-proxy" --check -c "$T/new.conf" >"$T/check-good.out" 2>&1 ||
		{ cat "$T/check-good.out" >&2; fail "--check rejected a good config"; }
	"$B/crm-proxy" --help >"$T/help.out" 2>&1 ||
		fail "--help exited nonzero"
	grep -q -- '-c' "$T/help.out" || fail "--help does not mention -c"
else
	doveconf -c "$T/bad.conf" >"$T/check.out" 2>&1
	rc=$?
	want="$T/bad.conf line $line"
fi
[ $rc != 0 ] || fail "the broken config was accepted"
grep -qF "$want" "$T/check.out" ||
	{ cat "$T/check.out" >&2; fail "error does not name '$want'"; }
note "exit $rc: $(grep -F "$want" "$T/check.out" | head -1 | cut -c1-150)"

pass "reload kept the session, broken reload ignored, SIGTERM clean, --check names file:line ($TARGET_MODE)"
